//! [`Client`]: one configured notifier. It turns errors into [`Event`]s on the caller's
//! thread (cheaply: the stack is captured unresolved), decides whether to send them, and
//! hands them to its delivery thread without blocking.

#[cfg(feature = "anyhow")]
mod anyhow_error;
mod pipeline;

#[cfg(feature = "anyhow")]
pub use anyhow_error::AnyhowError;

use std::error::Error;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::breadcrumbs::{Breadcrumb, BreadcrumbType, Ring};
use crate::config::{is_valid_api_key, Configuration};
use crate::delivery::{Delivery, Stats};
use crate::error_chain::{class_of, exceptions, FALLBACK_CLASS};
use crate::event::{App, Device, Event, Exception, SeverityReason};
use crate::feature_flags::{FeatureFlag, Flags};
use crate::options::Options;
use crate::panic::{self as panics, PanicCapture};
use crate::scope::{RequestSource, Scope, ScopeData};
use crate::session::SessionTracker;

/// The configured API key when it can be used; every way it cannot is told to the user,
/// since a notifier without a key is silent.
fn checked_api_key(config: &Configuration) -> Option<String> {
    let from_env = std::env::var("BUGSNAG_API_KEY").ok().filter(|k| !k.trim().is_empty());
    let problem = match config.api_key.as_ref().map(|k| k.0.as_str()) {
        Some(key) if crate::diagnostics::is_placeholder_key(key) => format!(
            "the Bugsnag API key is a placeholder copied from documentation{}; no events will be sent",
            if from_env.is_some() { ", set in code over BUGSNAG_API_KEY: remove the .api_key(..) call" } else { "" }
        ),
        Some(key) if is_valid_api_key(key) => return Some(key.to_owned()),
        Some(_) => "the Bugsnag API key is malformed (expected 32 hex characters); no events will be sent".to_owned(),
        None if from_env.is_some() => "BUGSNAG_API_KEY is set, but this Configuration never read the environment (it was built with Configuration::default() or deserialized): use Configuration::from_env() or .with_env(); no events will be sent".to_owned(),
        None => "no Bugsnag API key is configured (set BUGSNAG_API_KEY); no events will be sent".to_owned(),
    };
    crate::diagnostics::misconfigured(&problem);
    None
}

/// What a `before_notify` callback decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the event (with the callback's changes).
    Send,
    /// Do not send the event.
    Drop,
}

/// What became of a `notify` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an Outcome says whether the event was queued; ignore it with `let _ =`"]
pub enum Outcome {
    /// The event is on its way to Bugsnag.
    Queued,
    /// The event will not be sent.
    Dropped(DropReason),
}

impl Outcome {
    /// Whether the event was handed to the delivery thread.
    pub fn is_queued(self) -> bool {
        self == Outcome::Queued
    }
}

/// Why an event was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// No global client: `configure` was not called.
    NotConfigured,
    /// No valid API key or endpoint: the notifier is disabled (a warning said why).
    Disabled,
    /// The release stage is not in `notify_release_stages`.
    ReleaseStage,
    /// An errorClass of the chain is in `ignore_classes`.
    IgnoredClass,
    /// A `before_notify` callback returned [`Decision::Drop`].
    Callback,
    /// The delivery queue was full (the endpoint is slow or down).
    QueueFull,
    /// `notify` was called from a `before_notify` callback (which would recurse).
    InsideCallback,
}

pub(super) type Callback = Arc<dyn Fn(&mut Event) -> Decision + Send + Sync>;

/// A configured notifier. Cheap to clone; clones share the delivery thread.
///
/// Most programs install one globally with [`configure`](crate::configure) and use the
/// free functions; tests and libraries can build their own:
///
/// ```no_run
/// use bugsnag_core::{Client, Configuration};
///
/// let client = Client::new(Configuration::from_env());
/// let err = "x".parse::<u8>().unwrap_err();
/// let _ = client.notify(&err);
/// client.flush(std::time::Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Configuration,
    api_key: Option<String>,
    callbacks: RwLock<Vec<Callback>>,
    delivery: Option<Delivery>,
    sessions: Arc<SessionTracker>,
    app: App,
    device: Arc<Mutex<Device>>,
    breadcrumbs: Mutex<Ring>,
    feature_flags: Mutex<Flags>,
}

impl std::fmt::Debug for Client {
    // Never prints the API key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.config.endpoint)
            .field("release_stage", &self.inner.config.release_stage)
            .field("enabled", &(self.inner.api_key.is_some() && self.inner.delivery.is_some()))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`. A missing or malformed API key or endpoint logs one warning
    /// and gives a client that sends nothing (unless a call supplies its own key).
    pub fn new(config: Configuration) -> Self {
        let config = config.within_limits();
        let api_key = checked_api_key(&config);
        if !config.project_root.is_dir() {
            crate::diagnostics::misconfigured(&format!(
                "Bugsnag project_root {} is not a directory here: no frame will be marked in-project (leave it unset to use the current directory)",
                config.project_root.display()
            ));
        }
        let app = App {
            version: config.app_version.clone(),
            release_stage: Some(config.release_stage.clone()),
            kind: config.app_type.clone(),
        };
        let hostname = config.hostname.clone().or_else(|| gethostname::gethostname().into_string().ok());
        let device = Device {
            hostname,
            os_name: Some(std::env::consts::OS.to_owned()),
            time: None,
            runtime_versions: Map::from_iter([("rustc".to_owned(), Value::from(env!("BUGSNAG_RUSTC_VERSION")))]),
        };
        let device = Arc::new(Mutex::new(device));
        let sessions_on = api_key.is_some() && config.sessions_enabled();
        let sessions = Arc::new(SessionTracker::new(sessions_on, api_key.clone(), app.clone(), device.clone()));
        let delivery = Delivery::start(&config, api_key.clone(), sessions.clone())
            .map_err(|e| crate::diagnostics::misconfigured(&format!("Bugsnag is disabled: {e}")))
            .ok();
        Self {
            inner: Arc::new(Inner {
                config,
                api_key,
                callbacks: RwLock::default(),
                delivery,
                sessions,
                app,
                device,
                breadcrumbs: Mutex::default(),
                feature_flags: Mutex::default(),
            }),
        }
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Configuration {
        &self.inner.config
    }

    /// Reports a handled error with severity `warning`; its `source()` chain becomes the
    /// event's exceptions.
    pub fn notify<E: Error + ?Sized + 'static>(&self, error: &E) -> Outcome {
        self.notify_with(error, Options::new())
    }

    /// Reports an error with per-call options.
    pub fn notify_with<E: Error + ?Sized + 'static>(&self, error: &E, options: Options) -> Outcome {
        let class = options.error_class.clone().or_else(|| class_of::<E>().map(str::to_owned));
        self.report(|trace| exceptions(error, class.as_deref(), trace), options)
    }

    /// Reports a message with no error value (errorClass `Error` unless the options set one).
    pub fn notify_message(&self, message: impl Into<String>, options: Options) -> Outcome {
        let message = message.into();
        let class = options.error_class.clone().unwrap_or_else(|| FALLBACK_CLASS.to_owned());
        self.report(|stacktrace| vec![Exception { error_class: class, message, stacktrace }], options)
    }

    /// Reports an error chain read from a log record: `(errorClass, message)` pairs,
    /// outermost first; the stack is captured here, at the logging call.
    #[cfg(any(feature = "log", feature = "tracing"))]
    pub(crate) fn notify_chain(&self, chain: Vec<(String, String)>, options: Options) -> Outcome {
        self.report(
            |trace| {
                let mut trace = Some(trace);
                chain
                    .into_iter()
                    .map(|(error_class, message)| Exception {
                        error_class,
                        message,
                        stacktrace: trace.take().unwrap_or_else(crate::stacktrace::Stacktrace::empty),
                    })
                    .collect()
            },
            options,
        )
    }

    /// Reports a panic that an adapter caught with `catch_unwind` inside `scope`: one
    /// unhandled event, severity `error`, reason `unhandledExceptionMiddleware` naming
    /// `framework`, with the backtrace the panic hook stashed at the panic point.
    pub fn notify_panic(&self, scope: &Scope, payload: &(dyn std::any::Any + Send), framework: &str) -> Outcome {
        let capture = scope.lock().stashed_panic.take().unwrap_or_else(|| PanicCapture::from_payload(payload));
        self.report_panic(capture, SeverityReason::unhandled_exception_middleware(framework), scope)
    }

    pub(crate) fn report_panic(&self, capture: PanicCapture, reason: SeverityReason, scope: &Scope) -> Outcome {
        let tab = capture.metadata();
        let (stacktrace, build) = capture.into_parts();
        let options =
            Options::new().unhandled(reason).metadata("panic", tab).scope(scope.clone()).stacktrace(stacktrace);
        self.report(build, options)
    }

    /// Registers a callback run on every event before it is queued; it may change the
    /// event or drop it. A severity change sets severityReason `userCallbackSetSeverity`.
    pub fn before_notify(&self, callback: impl Fn(&mut Event) -> Decision + Send + Sync + 'static) {
        self.inner.callbacks.write().unwrap_or_else(|p| p.into_inner()).push(Arc::new(callback));
    }

    /// Records a framework or runtime version for `device.runtimeVersions` (adapters do).
    pub fn add_runtime_version(&self, name: &str, version: &str) {
        let mut device = self.inner.device.lock().unwrap_or_else(|p| p.into_inner());
        device.runtime_versions.insert(name.to_owned(), Value::from(version));
    }

    /// Starts a session in the current scope (adapters do this per request when
    /// `auto_capture_sessions` is on). Events reported in the scope then carry it.
    pub fn start_session(&self) {
        self.start_session_in(&Scope::current());
    }

    /// Starts a session in `scope`.
    pub fn start_session_in(&self, scope: &Scope) {
        if let Some(session) = self.inner.sessions.start() {
            scope.set_session(session);
        }
    }

    /// Starts a session in `scope` if `auto_capture_sessions` is on: what adapters call
    /// for each request or job.
    pub fn auto_start_session(&self, scope: &Scope) {
        if self.inner.config.auto_capture_sessions {
            self.start_session_in(scope);
        }
    }

    /// [`Scope::for_request`] with a session when `auto_capture_sessions` is on: the
    /// scope a web adapter opens for each request.
    pub fn request_scope(&self, source: Arc<dyn RequestSource>, framework: &'static str) -> Scope {
        let session = if self.inner.config.auto_capture_sessions { self.inner.sessions.start() } else { None };
        Scope::with_data(ScopeData {
            request_source: Some(source),
            catches_panics: Some(framework),
            breadcrumbs: Some(Ring::default()),
            session,
            ..ScopeData::default()
        })
    }

    /// Leaves a breadcrumb in the current scope (or the client's ring outside one);
    /// `metadata` is an object of details, or `Value::Null`.
    pub fn leave_breadcrumb(&self, name: impl Into<String>, kind: BreadcrumbType, metadata: Value) {
        self.add_breadcrumb(&Scope::current(), Breadcrumb::new(name, kind, metadata));
    }

    /// Leaves a breadcrumb in `scope`.
    pub fn add_breadcrumb(&self, scope: &Scope, mut crumb: Breadcrumb) {
        // Its fields are public: it may not have come through `Breadcrumb::new`.
        crumb.metadata.values_mut().for_each(crate::limits::cap_depth);
        let max = self.inner.config.breadcrumb_limit();
        if let Some(ring) = scope.lock().breadcrumbs.as_mut() {
            return ring.push(crumb, max);
        }
        self.inner.breadcrumbs.lock().unwrap_or_else(|p| p.into_inner()).push(crumb, max);
    }

    /// Adds (or changes the variant of) a feature flag for every event of this client.
    pub fn add_feature_flag(&self, name: impl Into<String>, variant: Option<&str>) {
        self.flags().add(FeatureFlag::new(name, variant));
    }

    /// Adds several feature flags for every event of this client.
    pub fn add_feature_flags(&self, flags: impl IntoIterator<Item = FeatureFlag>) {
        let mut all = self.flags();
        flags.into_iter().for_each(|f| all.add(f));
    }

    /// Removes one of this client's feature flags.
    pub fn clear_feature_flag(&self, name: &str) {
        self.flags().clear(name);
    }

    /// Removes all of this client's feature flags.
    pub fn clear_feature_flags(&self) {
        self.flags().clear_all();
    }

    fn flags(&self) -> std::sync::MutexGuard<'_, Flags> {
        self.inner.feature_flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends the session counts gathered so far, then waits until every payload queued
    /// before this call has been sent or given up on, or until `timeout` passes; returns
    /// whether everything was done. Blocks the thread.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.delivery.as_ref().is_none_or(|d| d.flush(timeout))
    }

    /// Flushes, then writes what is still unsent to the outbox (when one is configured)
    /// so the next start sends it. The guard returned by `configure` calls this.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.delivery.as_ref().is_none_or(|d| d.shutdown(timeout))
    }

    /// Counters of what this client queued, delivered and dropped.
    pub fn stats(&self) -> Stats {
        self.inner.delivery.as_ref().map(Delivery::stats).unwrap_or_default()
    }

    /// Makes the panic hook report panics to this client (`configure` does this for the
    /// global client when `auto_notify` is on).
    pub fn install_panic_hook(&self) {
        panics::install(self.clone());
    }
}
